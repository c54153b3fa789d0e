"""Reading and editing the model's board: probe targets (labels), activations, probes, interventions, plots."""
