fn main() -> std::process::ExitCode {
    tunelings::cli::main()
}
