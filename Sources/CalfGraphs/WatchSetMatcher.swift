import Glibc

/// Which paths belong to one watch set of a graph, and what a watcher
/// watches for it: its directories recursively, its files through their
/// directory (an editor's atomic save replaces a file's inode), a missing
/// path through its nearest existing ancestor; never an ignored path (the
/// graph's and the set's patterns, the root's `.gitignore` when the graph
/// reads it) nor a task's output.
public struct WatchSetMatcher: Sendable {
    /// The set's id.
    public let id: String
    private let paths: [String]
    private let root: String
    private let rules: IgnoreRules
    private let outputs: [String]

    /// The matcher of `watch` in `graph`; `gitignore` are the root's
    /// gitignore rules (`IgnoreRules.gitignore(at:)`), used when the graph says so.
    public init(_ watch: WatchSetSpec, in graph: GraphSpec, gitignore: IgnoreRules = IgnoreRules()) {
        id = watch.id
        paths = watch.paths
        root = graph.root
        rules = (graph.gitignore ? gitignore : IgnoreRules()).adding(IgnoreRules(graph.ignore)).adding(IgnoreRules(watch.ignore))
        outputs = graph.tasks.flatMap(\.outputs)
    }

    /// The directories to watch for it: each directory of the set, the
    /// directory of each file, the nearest existing ancestor of a missing
    /// path; without repeats or one inside another.
    public var directories: [String] {
        var found: [String] = []
        for path in paths {
            var candidate = Self.isDirectory(path) ? path : Self.parent(of: path)
            while !Self.isDirectory(candidate), candidate != "/" { candidate = Self.parent(of: candidate) }
            found.append(candidate)
        }
        let unique = Array(Set(found)).sorted()
        return unique.filter { directory in !unique.contains { $0 != directory && Self.isInside(directory, $0) } }
    }

    /// Whether a change at `path` is one of the set's: at or under one of its paths, not ignored, not an output.
    public func contains(_ path: String, isDirectory: Bool) -> Bool {
        guard paths.contains(where: { path == $0 || Self.isInside(path, $0) }) else { return false }
        return !excludes(path, isDirectory: isDirectory)
    }

    /// Whether the watcher leaves `path` out (ignored, or a task's output).
    public func excludes(_ path: String, isDirectory: Bool) -> Bool {
        if outputs.contains(where: { path == $0 || Self.isInside(path, $0) }) { return true }
        guard Self.isInside(path, root) else { return false }
        return rules.ignores(String(path.dropFirst(root == "/" ? 1 : root.count + 1)), isDirectory: isDirectory)
    }

    private static func isInside(_ path: String, _ directory: String) -> Bool {
        directory == "/" ? path != "/" : path.hasPrefix(directory + "/")
    }

    private static func parent(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/"), slash != path.startIndex else { return "/" }
        return String(path[..<slash])
    }

    private static func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && info.st_mode & S_IFMT == S_IFDIR
    }
}
