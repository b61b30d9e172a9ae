"""RQ worker side of HazardHub: the job class that gives each job its app context, and the jobs."""
