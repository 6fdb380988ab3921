/// Reads lines from a terminal in raw mode: Emacs editing keys, history
/// with the arrows (kept across sessions by `ShellHistory`), Tab completion
/// (a second Tab lists the candidates).
public final class LineEditor {
    /// How reading a line ended.
    public enum Outcome: Equatable, Sendable {
        /// A line was entered.
        case line(String)
        /// Ctrl-C: the line was dropped.
        case interrupted
        /// Ctrl-D on an empty line, or the input closed.
        case end
    }

    let terminal: Terminal
    /// The lines entered so far, this session and before.
    public let history: ShellHistory
    private let processes: () -> [String]

    /// An editor on `terminal`; `processes` gives the names and pids Tab
    /// offers (asked once per Tab).
    public init(terminal: Terminal, history: ShellHistory, processes: @escaping () -> [String]) {
        self.terminal = terminal
        self.history = history
        self.processes = processes
    }

    /// Reads one line after `prompt`.
    public func readLine(prompt: String) -> Outcome {
        terminal.enterRawMode()
        defer { terminal.leaveRawMode() }
        var buffer = LineBuffer()
        // Position in the history while browsing it (entries.count: the line being written).
        var browsing = history.entries.count
        var draft = buffer
        var lastWasTab = false
        redraw(prompt, buffer)
        while true {
            guard let bytes = terminal.readKeys() else { return finish(.end) }
            for key in LineKey.parse(bytes) {
                let tabbedBefore = lastWasTab
                lastWasTab = key == .tab
                switch key {
                case .enter:
                    redraw(prompt, buffer)
                    terminal.write("\r\n")
                    let line = buffer.text
                    history.add(line)
                    return .line(line)
                case .interrupt:
                    redraw(prompt, buffer)
                    terminal.write("^C\r\n")
                    return .interrupted
                case .endOfInput where buffer.characters.isEmpty:
                    return finish(.end)
                case .up, .down:
                    if browsing == history.entries.count { draft = buffer }
                    browsing = key == .up ? max(0, browsing - 1) : min(history.entries.count, browsing + 1)
                    buffer = browsing == history.entries.count ? draft : LineBuffer(history.entries[browsing])
                case .tab:
                    complete(&buffer, listing: tabbedBefore, prompt: prompt)
                case .clearScreen:
                    terminal.write("\u{1b}[H\u{1b}[2J")
                default:
                    buffer.apply(key)
                }
            }
            redraw(prompt, buffer)
        }
    }

    private func finish(_ outcome: Outcome) -> Outcome {
        terminal.write("\r\n")
        return outcome
    }

    private func complete(_ buffer: inout LineBuffer, listing: Bool, prompt: String) {
        let candidates = ShellCompletion.candidates(for: buffer.beforeCursor, processes: processes())
        switch candidates.words.count {
        case 0:
            terminal.write("\u{07}")
        case 1:
            buffer.replace(from: candidates.wordStart, with: candidates.words[0] + " ")
        default:
            let common = candidates.commonPrefix
            if common.count > candidates.prefix.count {
                buffer.replace(from: candidates.wordStart, with: common)
            } else if listing {
                terminal.write("\r\n" + candidates.words.joined(separator: "  ") + "\r\n")
            } else {
                terminal.write("\u{07}")
            }
        }
    }

    /// Draws the prompt and the line, the cursor where it stands.
    private func redraw(_ prompt: String, _ buffer: LineBuffer) {
        let after = buffer.characters.count - buffer.cursor
        terminal.write("\r" + prompt + buffer.text + "\u{1b}[K" + (after > 0 ? "\u{1b}[\(after)D" : ""))
    }
}
