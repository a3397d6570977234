"""bifrostd, the long-running process: its loop, settings, timers, control socket, status, logs, the mirror worker and the rolling passes."""
