import Glibc

/// What a file looked like when last seen. A file up to
/// `FileStamp.hashedSize` is known by its size and content, so a save
/// that wrote the same bytes (an editor's "save" of an unchanged buffer,
/// a `touch`) is no change; a bigger one by its size, mtime and inode (an
/// editor's save changes the mtime, an atomic save the inode).
struct FileStamp: Sendable, Equatable {
    /// Files up to this size (bytes) are hashed.
    static let hashedSize: Int64 = 1 << 20

    var size: Int64
    var modified: Int64
    var inode: UInt64
    /// Its content's digest, for a file up to `hashedSize`.
    var content: UInt64?

    /// Whether `other` is the same file content as this one.
    func sameContent(as other: FileStamp) -> Bool {
        if let content, let theirs = other.content { return size == other.size && content == theirs }
        return size == other.size && modified == other.modified && inode == other.inode
    }
}

/// The files of one watch set with their stamps, and the set's digest: a
/// hash over the sorted (path, size, content) of its files (mtime and
/// inode for a file too big to hash). Rebuilt
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
        let changed = Set(found.keys).symmetricDifference(files.keys).union(found.keys.filter { path in
            guard let old = files[path], let new = found[path] else { return false }
            return !old.sameContent(as: new)
        })
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
                for (file, stamp) in found {
                    let old = files[file]
                    files[file] = stamp
                    if old.map({ !$0.sameContent(as: stamp) }) ?? true { changed.append(file) }
                }
            } else if matcher.contains(path, isDirectory: false) {
                let old = files[path]
                // The same stat: nothing to read; else its content decides.
                if let old, old.size == Int64(info.st_size), old.modified == Self.nanoseconds(info.st_mtim), old.inode == UInt64(info.st_ino) { continue }
                let stamp = Self.stamp(info, path)
                files[path] = stamp
                if old.map({ !$0.sameContent(as: stamp) }) ?? true { changed.append(path) }
            }
        }
        return changed
    }

    /// Its files as lines of `STAMP PATH` (the content's digest, or size,
    /// mtime and inode), sorted: kept beside the journal so that the next
    /// start can say which files changed while the node was down.
    var fileList: String {
        files.keys.sorted().map { path in
            let stamp = files[path]!  // invariant: the keys are the map's own.
            let key = stamp.content.map { String($0, radix: 16) } ?? "\(stamp.size):\(stamp.modified):\(stamp.inode)"
            return key + " " + path
        }.joined(separator: "\n")
    }

    /// The paths that differ between the file list `previous` (`fileList`
    /// of an earlier look) and the files now: changed, made or deleted.
    func changes(since previous: String) -> [String] {
        var before: [String: Substring] = [:]
        for line in previous.split(separator: "\n") {
            guard let space = line.firstIndex(of: " ") else { continue }
            before[String(line[line.index(after: space)...])] = line[..<space]
        }
        let now = Dictionary(uniqueKeysWithValues: fileList.split(separator: "\n").compactMap { line -> (String, Substring)? in
            guard let space = line.firstIndex(of: " ") else { return nil }
            return (String(line[line.index(after: space)...]), line[..<space])
        })
        return Set(before.keys).union(now.keys).filter { before[$0] != now[$0] }.sorted()
    }

    /// The set's digest.
    var digest: String {
        var hash = StableHash()
        for path in files.keys.sorted() {
            guard let stamp = files[path] else { continue }
            hash.add(path)
            hash.add(UInt64(bitPattern: stamp.size))
            if let content = stamp.content {
                hash.add(content)
            } else {
                hash.add(UInt64(bitPattern: stamp.modified))
                hash.add(stamp.inode)
            }
        }
        return hash.hex
    }

    private static func stamp(_ info: stat, _ path: String) -> FileStamp {
        let size = Int64(info.st_size)
        let content = size <= FileStamp.hashedSize && info.st_mode & S_IFMT == S_IFREG ? contentDigest(path) : nil
        return FileStamp(size: size, modified: nanoseconds(info.st_mtim), inode: UInt64(info.st_ino), content: content)
    }

    private static func nanoseconds(_ time: timespec) -> Int64 { Int64(time.tv_sec) * 1_000_000_000 + Int64(time.tv_nsec) }

    /// The digest of the file at `path`'s bytes (nil if it cannot be read).
    private static func contentDigest(_ path: String) -> UInt64? {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var hash = StableHash()
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 { return nil }
            if count == 0 { break }
            hash.add(bytes: buffer[0..<count])
        }
        return hash.value
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
                if matcher.contains(next, isDirectory: false) { found[next] = stamp(info, next) }
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
