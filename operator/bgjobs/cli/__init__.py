"""``kubectl bgjobs``: the kubectl plugin for listing, inspecting and managing jobs."""
