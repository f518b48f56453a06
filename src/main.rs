fn main() -> std::process::ExitCode {
    // `tunelings eval … | head` should end quietly when head has read
    // enough, as other command-line tools do, not panic on a closed pipe.
    #[cfg(unix)]
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    tunelings::cli::main()
}
