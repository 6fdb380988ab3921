import Glibc

/// What a file looked like when last seen: a change of any of these is a
/// change of the file (an editor's save changes the mtime, an atomic save
/// the inode).
struct FileStamp: Sendable, Equatable {
    var size: Int64
    var modified: Int64
    var inode: UInt64
}

/// The files of one watch set with their stamps, and the set's digest: a
/// hash over the sorted (path, size, mtime, inode) of its files. Rebuilt
/// by a scan at every start (and after a queue overflow), kept up to date
/// from the watcher's batches; not journal data.
struct WatchSetIndex: Sendable {
    let matcher: WatchSetMatcher
    let paths: [String]
    private(set) var files: [String: FileStamp] = [:]

    init(_ matcher: WatchSetMatcher, paths: [String]) {
        self.matcher = matcher
        self.paths = paths
    }

    /// Scans every path of the set anew; returns the paths that changed since the last look.
    mutating func rescan() -> [String] {
        var found: [String: FileStamp] = [:]
        for path in paths { Self.scan(path, matcher, into: &found) }
        let changed = Set(found.keys).symmetricDifference(files.keys).union(found.keys.filter { files[$0] != nil && files[$0] != found[$0] })
        files = found
        return changed.sorted()
    }

    /// Takes in `changes` (those of this set); returns the paths whose file changed.
    mutating func update(_ changes: [String]) -> [String] {
        var changed: [String] = []
        for path in changes {
            var info = stat()
            if lstat(path, &info) != 0 {
                // Gone, with whatever was under it.
                let prefix = path + "/"
                let removed = files.keys.filter { $0 == path || $0.hasPrefix(prefix) }
                for gone in removed { files[gone] = nil }
                changed += removed
            } else if info.st_mode & S_IFMT == S_IFDIR {
                var found: [String: FileStamp] = [:]
                Self.scan(path, matcher, into: &found)
                for (file, stamp) in found where files[file] != stamp {
                    files[file] = stamp
                    changed.append(file)
                }
            } else if matcher.contains(path, isDirectory: false) {
                let stamp = Self.stamp(info)
                if files[path] != stamp {
                    files[path] = stamp
                    changed.append(path)
                }
            }
        }
        return changed
    }

    /// The set's digest.
    var digest: String {
        var hash = StableHash()
        for path in files.keys.sorted() {
            guard let stamp = files[path] else { continue }
            hash.add(path)
            hash.add(UInt64(bitPattern: stamp.size))
            hash.add(UInt64(bitPattern: stamp.modified))
            hash.add(stamp.inode)
        }
        return hash.hex
    }

    private static func stamp(_ info: stat) -> FileStamp {
        FileStamp(size: Int64(info.st_size), modified: Int64(info.st_mtim.tv_sec) * 1_000_000_000 + Int64(info.st_mtim.tv_nsec), inode: UInt64(info.st_ino))
    }

    /// The files at and under `path` that the set holds (symbolic links not followed).
    private static func scan(_ path: String, _ matcher: WatchSetMatcher, into found: inout [String: FileStamp]) {
        var stack = [path]
        while let next = stack.popLast() {
            var info = stat()
            guard lstat(next, &info) == 0 else { continue }
            let isDirectory = info.st_mode & S_IFMT == S_IFDIR
            if next != path, matcher.excludes(next, isDirectory: isDirectory) { continue }
            guard isDirectory else {
                if matcher.contains(next, isDirectory: false) { found[next] = stamp(info) }
                continue
            }
            guard let directory = opendir(next) else { continue }
            while let entry = readdir(directory) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                    String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
                }
                if name == "." || name == ".." { continue }
                stack.append(next == "/" ? "/" + name : next + "/" + name)
            }
            closedir(directory)
        }
    }
}
