"""From observations to catalog changes: the pure planner, the scan that feeds it a walk, the watcher's dirty paths, and what forget and rebuild do."""
