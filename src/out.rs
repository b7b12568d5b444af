//! Printing that cannot panic. `println!` and `eprintln!` panic when their stream is closed
//! (`kobe sim 2>&1 | head -1`): a panic that exits 101, or, inside a task, one that kills the
//! task quietly (the signal handler, leaving SIGTERM ignored). When the reader is gone there
//! is nobody left to tell, so these macros drop the text instead.

/// `println!` that ignores a closed standard output.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

/// `print!` that ignores a closed standard output.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let mut o = std::io::stdout().lock();
        let _ = write!(o, $($arg)*);
        let _ = o.flush();
    }};
}

/// `eprintln!` that ignores a closed standard error.
macro_rules! errln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr().lock(), $($arg)*);
    }};
}

/// `eprint!` that ignores a closed standard error.
macro_rules! err {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stderr().lock(), $($arg)*);
    }};
}

pub(crate) use {err, errln, out, outln};
