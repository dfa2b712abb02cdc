"""ROS 2 nodes (no model math): see each module (ingest_node, tracker_node)."""
