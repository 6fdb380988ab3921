import Glibc

/// Ignore patterns in gitignore syntax, for watch sets: a graph's and a
/// watch set's `ignore:`, the root's `.git/info/exclude`, and the
/// `.gitignore` of the root and of each directory under it (whose
/// patterns are relative to that directory and decide over its parents'). Each segment is matched by libc's `fnmatch` (`*`,
/// `?`, `[...]`, a backslash escape); `**` is any number of directories.
/// As git does: blank lines and `#` comments skipped, `!` re-includes, a
/// trailing `/` means directories only, a pattern with a slash before its
/// end is anchored to its base, one without matches at any depth, the last
/// matching pattern decides, and nothing under an ignored directory is
/// included again.
public struct IgnoreRules: Sendable, Equatable {
    struct Rule: Sendable, Equatable {
        /// The directory its file is in, relative to the root (empty: the root).
        var base: [String] = []
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

    /// The rules of `root`'s `.git/info/exclude` and `.gitignore`, then of
    /// every `.gitignore` below it (directories ignored by what is read so
    /// far are not entered, as git does not), in git's order; missing files: none.
    public static func gitignore(at root: String) -> IgnoreRules {
        var rules = IgnoreRules()
        rules.read(root + "/.git/info/exclude", base: [])
        var pending: [[String]] = [[]]
        while !pending.isEmpty {
            let base = pending.removeFirst()
            let directory = base.isEmpty ? root : root + "/" + base.joined(separator: "/")
            rules.read(directory + "/.gitignore", base: base)
            for name in subdirectories(of: directory) where name != ".git" {
                let child = base + [name]
                if !rules.ignores(child.joined(separator: "/"), isDirectory: true) { pending.append(child) }
            }
        }
        return rules
    }

    /// Adds the lines of the file at `path`, relative to `base`.
    private mutating func read(_ path: String, base: [String]) {
        guard let text = Self.readFile(path) else { return }
        // "\r\n" is one Character in Swift: both end a line.
        for line in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }) { add(String(line), base: base) }
    }

    /// The names of the directories in `directory` (symbolic links not followed).
    private static func subdirectories(of directory: String) -> [String] {
        guard let stream = opendir(directory) else { return [] }
        defer { closedir(stream) }
        var names: [String] = []
        while let entry = readdir(stream) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
            if name == "." || name == ".." { continue }
            var info = stat()
            if lstat(directory + "/" + name, &info) == 0, info.st_mode & S_IFMT == S_IFDIR { names.append(name) }
        }
        return names.sorted()
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
            // A nested file's rule sees only what is below its directory, relative to it.
            guard components.count > rule.base.count, components.starts(with: rule.base) else { continue }
            let relative = components[rule.base.count...]
            let matches = rule.anchored
                ? Self.match(rule.segments[...], relative)
                : Self.segment(rule.segments[0], matches: components[components.count - 1])
            if matches { return !rule.negated }
        }
        return nil
    }

    private mutating func add(_ line: String, base: [String] = []) {
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
        rules.append(Rule(base: base, segments: segments, negated: negated, directoriesOnly: directoriesOnly, anchored: anchored))
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
            let count = chunk.withUnsafeMutableBytes { Glibc.read(file, $0.baseAddress, $0.count) }
            guard count > 0 else { break }
            bytes += chunk[0..<count]
            // A gitignore file past a few MiB is not one.
            if bytes.count > 4 << 20 { break }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
