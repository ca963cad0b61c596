//! The run journal in embedded SQLite (implemented by the durability work).
