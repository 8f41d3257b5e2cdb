"""Gateway: the single entry point — authentication, routing to the services, alignment views."""
