"""Records, rules and queries: the registry's files read and checked, with no git and no writes."""
