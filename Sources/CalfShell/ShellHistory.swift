import Glibc

/// The lines typed in the interactive shell, kept in a file across sessions
/// (the newest `limit`; a line is saved as soon as it is entered, so a shell
/// that is killed keeps what it ran).
public final class ShellHistory {
    /// Where the history is kept: `$CALF_HISTORY`, else `$HOME/.calf_history`
    /// (nil: kept in memory only).
    public static var defaultPath: String? {
        if let path = getenv("CALF_HISTORY").map({ String(cString: $0) }), !path.isEmpty { return path }
        guard let home = getenv("HOME").map({ String(cString: $0) }), !home.isEmpty else { return nil }
        return home + "/.calf_history"
    }

    /// The file, if any.
    public let path: String?
    /// Lines kept at most.
    public let limit: Int
    /// The lines, oldest first.
    public private(set) var entries: [String]

    /// The history in `path` (missing or unreadable: empty).
    public init(path: String?, limit: Int = 1000) {
        self.path = path
        self.limit = limit
        entries = []
        guard let path, let file = fopen(path, "r") else { return }
        defer { fclose(file) }
        var line: UnsafeMutablePointer<CChar>?
        var capacity = 0
        while getline(&line, &capacity, file) > 0, let line {
            let text = String(cString: line).trimmingNewline()
            if !text.isEmpty { entries.append(text) }
        }
        free(line)
        if entries.count > limit { entries.removeFirst(entries.count - limit) }
    }

    /// Adds `line` (trailing spaces dropped; not a repeat of the last one,
    /// not blank) and saves it.
    public func add(_ line: String) {
        var text = line.trimmingNewline()
        while text.last == " " { text.removeLast() }
        guard !text.isEmpty, text != entries.last, !text.contains("\n") else { return }
        entries.append(text)
        guard let path else { return }
        if entries.count > limit * 2 {
            // Rewritten now and then, so the file stays about `limit` lines.
            entries.removeFirst(entries.count - limit)
            save(path, mode: "w", lines: entries)
        } else {
            save(path, mode: "a", lines: [text])
        }
    }

    private func save(_ path: String, mode: String, lines: [String]) {
        let descriptor = open(path, O_WRONLY | O_CREAT | (mode == "a" ? O_APPEND : O_TRUNC), 0o600)
        guard descriptor >= 0, let file = fdopen(descriptor, mode) else { return }
        defer { fclose(file) }
        for line in lines { fputs(line + "\n", file) }
    }
}

private extension String {
    func trimmingNewline() -> String {
        var text = self
        while let last = text.last, last.isNewline { text.removeLast() }
        return text
    }
}
