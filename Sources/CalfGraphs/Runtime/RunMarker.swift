import Foundation
import Glibc

/// The files beside a run's log that make it run at most once: `.started`
/// (written before the command starts, then with its process group's id)
/// and `.outcome` (its outcome as JSON, written as it ends, before the
/// graph hears of it). Files, not journal records: they are written from
/// the runner's thread between the journaled request and the journaled
/// completion, which is exactly the span a crash can cut.
struct RunMarker {
    static let startedSuffix = ".started"
    static let outcomeSuffix = ".outcome"

    let logPath: String
    var startedPath: String { logPath + Self.startedSuffix }
    var outcomePath: String { logPath + Self.outcomeSuffix }

    /// Notes the run as begun (`group` 0: its process not started yet),
    /// with the machine's boot id: a group id from before a reboot names
    /// nothing of ours (the id may be another program's by now).
    func begin(group: Int32, startedAt: Int64) {
        write("\(group) \(startedAt) \(Self.bootID)\n", to: startedPath)
    }

    /// The group and start time a run left, if one began (group 0 when it
    /// began before the machine last booted: nothing of it can be left).
    func started() -> (group: Int32, startedAt: Int64)? {
        guard let text = try? String(contentsOfFile: startedPath, encoding: .utf8) else { return nil }
        let fields = text.split(whereSeparator: \.isWhitespace)
        guard fields.count >= 2, let group = Int32(fields[0]), let startedAt = Int64(fields[1]) else { return (0, 0) }
        if fields.count >= 3, String(fields[2]) != Self.bootID { return (0, startedAt) }
        return (group, startedAt)
    }

    /// This boot of the machine (`/proc/sys/kernel/random/boot_id`; "unknown" if unreadable).
    static let bootID: String = {
        let text = (try? String(contentsOfFile: "/proc/sys/kernel/random/boot_id", encoding: .utf8)) ?? "unknown"
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        return trimmed.isEmpty ? "unknown" : trimmed
    }()

    /// Keeps `outcome` (a re-run after a crash reports it instead of running again).
    func record(_ outcome: RunOutcome) {
        guard let data = try? JSONEncoder().encode(outcome) else { return }
        write(String(decoding: data, as: UTF8.self), to: outcomePath)
    }

    /// The outcome a run of this effect recorded, if it ended.
    func outcome() -> RunOutcome? {
        guard let data = FileManager.default.contents(atPath: outcomePath) else { return nil }
        return try? JSONDecoder().decode(RunOutcome.self, from: data)
    }

    /// When its log was last written to, in milliseconds since 1970.
    func lastWrite() -> Int64? {
        var info = stat()
        guard stat(logPath, &info) == 0 else { return nil }
        return Int64(info.st_mtim.tv_sec) * 1000 + Int64(info.st_mtim.tv_nsec) / 1_000_000
    }

    /// The last `count` lines of the file at `path` (from its last 64 KiB).
    static func lastLines(of path: String, _ count: Int) -> [String] {
        guard let handle = FileHandle(forReadingAtPath: path) else { return [] }
        defer { try? handle.close() }
        let size = (try? handle.seekToEnd()) ?? 0
        try? handle.seek(toOffset: size > 65_536 ? size - 65_536 : 0)
        let data = (try? handle.readToEnd()) ?? Data()
        let lines = String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let trimmed = lines.last == "" ? lines.dropLast() : lines[...]
        return Array(trimmed.suffix(count)).map { String($0.prefix(CommandRun.tailLineBytes)) }
    }

    private func write(_ text: String, to path: String) {
        // Whole or not at all: a crash mid-write leaves the previous file.
        let temporary = path + ".tmp"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { return }
        let bytes = Array(text.utf8)
        _ = bytes.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
        close(descriptor)
        rename(temporary, path)
    }
}

/// How a `shell:` string is handed to the shell.
enum ShellText {
    /// `text` prefixed with `exec` when it is one simple command (words of
    /// plain characters), so that signals reach the program, not a shell
    /// waiting for it (watchexec's fix); anything else as written.
    static func execPrefixed(_ text: String) -> String {
        let plain = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./=:@%+,- ")
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty, trimmed.allSatisfy(plain.contains), !trimmed.hasPrefix("exec "), !trimmed.contains("=") else { return text }
        return "exec " + trimmed
    }
}
