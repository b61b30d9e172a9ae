"""追责线索: the accountability list the campaign ends in, derived from the records and kept."""
