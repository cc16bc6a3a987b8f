"""What oms-dx computes: inputs, the engine, reasoning, cards, evaluation, interviews and batch runs; never prints."""
