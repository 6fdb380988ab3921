/// What Tab offers in the interactive shell: a command as the first word,
/// then a registered name or pid where the command takes a process, and
/// options and their values.
public enum ShellCompletion {
    /// The word being completed and what may replace it.
    public struct Candidates: Equatable, Sendable {
        /// Where the word starts in the line (in characters).
        public var wordStart: Int
        /// The word typed so far.
        public var prefix: String
        /// The completions, sorted.
        public var words: [String]

        /// The longest text every candidate starts with.
        public var commonPrefix: String {
            guard var common = words.first else { return prefix }
            for word in words.dropFirst() {
                while !word.hasPrefix(common) { common.removeLast() }
            }
            return common
        }
    }

    /// Commands whose first argument is a process.
    static let takesProcess: Set<String> = ["send", "call", "state", "info", "mailbox", "kill", "restart", "suspend", "resume", "passivate", "move", "dead", "effects", "callbacks", "journal", "trace", "flow"]
    /// Each command's options, and the values an option takes (empty: free).
    static let options: [String: [String: [String]]] = [
        "send": ["--key": []],
        "call": ["--timeout": []],
        "state": ["--at": []],
        "ps": ["--sort": ["mailbox", "msgs", "memory", "restarts"]],
        "journal": ["--from": [], "--limit": []],
        "trace": ["--limit": []],
    ]

    /// The completions of the word before the cursor in `line` (the text up
    /// to the cursor), with `processes` the registered names and pids.
    public static func candidates(for line: String, processes: [String]) -> Candidates {
        let characters = Array(line)
        var start = characters.count
        while start > 0, characters[start - 1] != " " { start -= 1 }
        let prefix = String(characters[start...])
        let before = characters[..<start].split(separator: " ").map { String($0) }
        let words: [String]
        if before.isEmpty {
            words = ShellHelp.commandNames
        } else {
            words = following(before, processes: processes)
        }
        return Candidates(wordStart: start, prefix: prefix, words: words.filter { $0.hasPrefix(prefix) }.sorted())
    }

    private static func following(_ before: [String], processes: [String]) -> [String] {
        let command = before[0]
        if command == "help" { return before.count == 1 ? ShellHelp.commandNames : [] }
        let commandOptions = options[command] ?? [:]
        if let last = before.last, let values = commandOptions[last] { return values }
        if before.count == 1 {
            if takesProcess.contains(command) { return processes + (command == "dead" ? ["retry"] : []) }
            return Array(commandOptions.keys)
        }
        if command == "kill", before.count == 2 { return ["normal", "shutdown", "killed"] }
        // After the process (and, for send and call, the message): the options not given yet.
        return commandOptions.keys.filter { !before.contains($0) }
    }
}
