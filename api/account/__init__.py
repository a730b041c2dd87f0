"""The signed-in account: profile, sessions, password, deletion, and the export
assembled from every domain."""
