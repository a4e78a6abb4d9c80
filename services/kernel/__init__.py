"""The server's shared kernel: storage, unit of work, ports, errors, logging, metrics.

Modules may import the kernel; the kernel imports no module.
"""
