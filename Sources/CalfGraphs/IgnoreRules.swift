import Glibc

/// Ignore patterns in gitignore syntax, for watch sets: a graph's and a
/// watch set's `ignore:`, and the root's `.gitignore` and
/// `.git/info/exclude`. Each segment is matched by libc's `fnmatch` (`*`,
/// `?`, `[...]`, a backslash escape); `**` is any number of directories.
/// As git does: blank lines and `#` comments skipped, `!` re-includes, a
/// trailing `/` means directories only, a pattern with a slash before its
/// end is anchored to its base, one without matches at any depth, the last
/// matching pattern decides, and nothing under an ignored directory is
/// included again.
public struct IgnoreRules: Sendable, Equatable {
    struct Rule: Sendable, Equatable {
        var segments: [String]
        var negated: Bool
        var directoriesOnly: Bool
        var anchored: Bool
    }

    private(set) var rules: [Rule] = []

    /// Rules from `patterns` (lines of a gitignore file or an `ignore:` list).
    public init(_ patterns: [String] = []) {
        for line in patterns { add(line) }
    }

    /// These rules, then `other`'s (which decide where both match).
    public func adding(_ other: IgnoreRules) -> IgnoreRules {
        var both = self
        both.rules += other.rules
        return both
    }

    /// The rules of `root`'s `.git/info/exclude` and `.gitignore`, in git's order (missing files: none).
    public static func gitignore(at root: String) -> IgnoreRules {
        var rules = IgnoreRules()
        for file in [root + "/.git/info/exclude", root + "/.gitignore"] {
            guard let text = readFile(file) else { continue }
            // "\r\n" is one Character in Swift: both end a line.
            for line in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }) { rules.add(String(line)) }
        }
        return rules
    }

    /// Whether `path` (relative to the rules' base, `/`-separated, no
    /// leading slash) is ignored: it or a directory above it.
    public func ignores(_ path: String, isDirectory: Bool) -> Bool {
        let components = path.split(separator: "/").map(String.init)
        guard !components.isEmpty else { return false }
        for end in 1..<components.count where decides(Array(components[..<end]), isDirectory: true) == true { return true }
        return decides(components, isDirectory: isDirectory) ?? false
    }

    /// True (ignored), false (re-included) or nil (no rule matches), by the last matching rule.
    private func decides(_ components: [String], isDirectory: Bool) -> Bool? {
        for rule in rules.reversed() {
            if rule.directoriesOnly, !isDirectory { continue }
            let matches = rule.anchored
                ? Self.match(rule.segments[...], components[...])
                : Self.segment(rule.segments[0], matches: components[components.count - 1])
            if matches { return !rule.negated }
        }
        return nil
    }

    private mutating func add(_ line: String) {
        var text = line
        if text.hasSuffix("\r") { text.removeLast() }
        // Trailing spaces go, unless escaped.
        while text.hasSuffix(" "), !text.hasSuffix("\\ ") { text.removeLast() }
        guard !text.isEmpty, !text.hasPrefix("#") else { return }
        var negated = false
        if text.hasPrefix("!") {
            negated = true
            text.removeFirst()
        } else if text.hasPrefix("\\!") || text.hasPrefix("\\#") {
            text.removeFirst()
        }
        var directoriesOnly = false
        if text.hasSuffix("/") {
            directoriesOnly = true
            text.removeLast()
        }
        guard !text.isEmpty else { return }
        let anchored = text.contains("/")
        if text.hasPrefix("/") { text.removeFirst() }
        var segments = text.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        if !anchored { segments = [text] }
        guard !segments.isEmpty else { return }
        rules.append(Rule(segments: segments, negated: negated, directoriesOnly: directoriesOnly, anchored: anchored))
    }

    /// Pattern segments against path components, `**` taking any number of them.
    private static func match(_ segments: ArraySlice<String>, _ components: ArraySlice<String>) -> Bool {
        guard let first = segments.first else { return components.isEmpty }
        if first == "**" {
            let rest = segments.dropFirst()
            // A trailing `**` is everything inside (at least one component).
            if rest.isEmpty { return !components.isEmpty }
            var tail = components
            while true {
                if match(rest, tail) { return true }
                guard !tail.isEmpty else { return false }
                tail = tail.dropFirst()
            }
        }
        guard let component = components.first, segment(first, matches: component) else { return false }
        return match(segments.dropFirst(), components.dropFirst())
    }

    private static func segment(_ pattern: String, matches component: String) -> Bool {
        fnmatch(pattern, component, FNM_PATHNAME) == 0
    }

    private static func readFile(_ path: String) -> String? {
        let file = open(path, O_RDONLY | O_CLOEXEC)
        guard file >= 0 else { return nil }
        defer { close(file) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(file, $0.baseAddress, $0.count) }
            guard count > 0 else { break }
            bytes += chunk[0..<count]
            // A gitignore file past a few MiB is not one.
            if bytes.count > 4 << 20 { break }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
