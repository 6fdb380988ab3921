import Glibc

/// The controlling terminal of an interactive shell: raw mode on and off,
/// its size, reading keys with a timeout, writing text.
public final class Terminal {
    /// The input descriptor.
    public let input: Int32
    /// The output descriptor.
    public let output: Int32
    private var saved: termios?

    /// A terminal on standard input and output.
    public init(input: Int32 = STDIN_FILENO, output: Int32 = STDOUT_FILENO) {
        self.input = input
        self.output = output
    }

    deinit { leaveRawMode() }

    /// Whether both ends are terminals (else the shell reads plain lines).
    public var isInteractive: Bool { isatty(input) == 1 && isatty(output) == 1 }

    /// Keys arrive one by one, unechoed, with Ctrl-C as a key (not a signal).
    public func enterRawMode() {
        guard saved == nil else { return }
        var settings = termios()
        guard tcgetattr(input, &settings) == 0 else { return }
        saved = settings
        settings.c_iflag &= ~tcflag_t(BRKINT | ICRNL | INPCK | ISTRIP | IXON)
        settings.c_oflag &= ~tcflag_t(OPOST)
        settings.c_cflag |= tcflag_t(CS8)
        settings.c_lflag &= ~tcflag_t(ECHO | ICANON | IEXTEN | ISIG)
        withUnsafeMutableBytes(of: &settings.c_cc) { cc in
            cc[Int(VMIN)] = 1
            cc[Int(VTIME)] = 0
        }
        tcsetattr(input, TCSAFLUSH, &settings)
    }

    /// Back to the settings found.
    public func leaveRawMode() {
        guard var settings = saved else { return }
        tcsetattr(input, TCSAFLUSH, &settings)
        saved = nil
    }

    /// Columns and rows (80×24 when unknown).
    public var size: (columns: Int, rows: Int) {
        var window = winsize()
        guard ioctl(output, UInt(TIOCGWINSZ), &window) == 0, window.ws_col > 0 else { return (80, 24) }
        return (Int(window.ws_col), Int(window.ws_row))
    }

    /// Writes `text` (raw mode: "\r\n" for a new line).
    public func write(_ text: String) {
        var bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeMutableBytes { Glibc.write(output, $0.baseAddress! + offset, $0.count - offset) }
            if written < 0, errno == EINTR { continue }
            guard written > 0 else { return }
            offset += written
        }
        bytes.removeAll()
    }

    /// The next bytes typed (a key or an escape sequence), waiting at most
    /// `timeoutMilliseconds` (-1: forever); empty on a timeout, nil at end of input.
    public func readKeys(timeoutMilliseconds: Int32 = -1) -> [UInt8]? {
        var poller = pollfd(fd: input, events: Int16(POLLIN), revents: 0)
        while true {
            let ready = poll(&poller, 1, timeoutMilliseconds)
            if ready < 0, errno == EINTR { continue }
            if ready == 0 { return [] }
            break
        }
        var buffer = [UInt8](repeating: 0, count: 64)
        while true {
            let got = buffer.withUnsafeMutableBytes { read(input, $0.baseAddress!, $0.count) }
            if got < 0, errno == EINTR { continue }
            guard got > 0 else { return nil }
            return Array(buffer[..<got])
        }
    }
}
