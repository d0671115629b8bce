"""The `halo-forge` command line: thin layers that parse flags into a config and call the library."""
