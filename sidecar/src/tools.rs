//! Read-only tools a script reaches through `context.tools`: glob, read_file, search.
