fn main() -> std::process::ExitCode {
    odw::cli::main()
}
