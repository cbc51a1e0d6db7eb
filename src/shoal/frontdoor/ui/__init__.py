"""The web console's door (issue 17): the page, its JSON and live notices, and ``/metrics``."""
