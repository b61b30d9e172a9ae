"""三学: the monthly learning sessions of the campaign (bureau staff, principals, all staff)."""
