"""What oms-dx knows: the knowledge-base schema, its checks, its compiled runtime form and where it is stored."""
