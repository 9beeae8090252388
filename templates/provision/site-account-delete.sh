# {{domain}} left the config (or this host): its user goes. Its home is kept aside, not deleted.
{{> homeAside}}
