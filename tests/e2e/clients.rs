//! The editor clients in clients/: each one tested against the real `odw` binary.

#[path = "clients_helix.rs"]
mod helix;
#[path = "clients_hx.rs"]
mod hx;
#[path = "clients_neovim.rs"]
mod neovim;
#[path = "clients_zed.rs"]
mod zed;
