"""The settings of the neurons' rules, in one torch-free place that the library, the command line and the explorer
share: a share of "rule-explained" neurons is only comparable between views that grew their trees alike."""

__all__ = ["MIN_LEAF", "RULE_DEPTH", "RULE_R2"]

RULE_DEPTH = 4  # the depth of each neuron's regression tree (a rule of at most four board conditions)
RULE_R2 = 0.7  # held-out R^2 from which a neuron counts as rule-explained
MIN_LEAF = 20  # rows a split must leave on each side, so that no rule rests on a handful of positions
