fn main() -> std::process::ExitCode {
    // glibc gives each thread that allocates its own arena; with a few runtime threads, a
    // sandbox thread and the journal's writer, that multiplies resident memory for no gain.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: called once at start-up before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
    odw::cli::main()
}
