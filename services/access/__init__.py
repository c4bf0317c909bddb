"""Who may do what, and see which agency's cases: the permission table and the scope
rules every service applies (``policy``), and the FastAPI guard that enforces them on
each route (``guard``)."""
