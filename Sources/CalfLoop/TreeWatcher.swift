import CLibUV
import Glibc

/// One change under a tree a `TreeWatcher` watches.
public struct TreeChange: Sendable, Equatable, CustomStringConvertible {
    /// What happened to the path.
    public enum Kind: String, Sendable, Equatable {
        /// It appeared (made, or found in a directory that appeared).
        case created
        /// Its content or attributes changed (a write, a close after writing, chmod).
        case modified
        /// It was deleted.
        case removed
        /// It was renamed away (an editor's atomic save moves a temporary file over it: `movedTo`).
        case movedFrom
        /// Something was renamed to it (an editor's atomic save).
        case movedTo
    }

    /// The absolute path.
    public var path: String
    /// What happened.
    public var kind: Kind
    /// Whether it is (was) a directory.
    public var isDirectory: Bool

    /// A change.
    public init(path: String, kind: Kind, isDirectory: Bool) {
        self.path = path
        self.kind = kind
        self.isDirectory = isDirectory
    }

    /// `kind path`, with a slash after a directory.
    public var description: String { "\(kind.rawValue) \(path)\(isDirectory ? "/" : "")" }
}

/// What a `TreeWatcher` reports.
public enum TreeWatchEvent: Sendable, Equatable {
    /// Changes read in one go, in the kernel's order.
    case changes([TreeChange])
    /// Changes were missed (the kernel's queue overflowed): the watcher
    /// has looked at the trees again and watches what is there now; whoever
    /// keeps digests of them must scan them again.
    case rescan(reason: String)
}

/// Why a tree could not be watched.
public struct TreeWatchError: Error, Sendable, CustomStringConvertible {
    /// What went wrong, naming the path and what to do.
    public let description: String

    /// The limit on inotify watches was reached (`ENOSPC`: not the disk).
    static func tooManyWatches(_ path: String, watching: Int) -> TreeWatchError {
        let limit = firstLine(of: "/proc/sys/fs/inotify/max_user_watches") ?? "unknown"
        // In a user namespace (a container) its own limit may be the lower one.
        let namespace = firstLine(of: "/proc/sys/user/max_inotify_watches").flatMap { own in
            Int(own).map { value in Int(limit).map { value < $0 } ?? true ? "; user.max_inotify_watches of this user namespace is \(own)" : "" }
        } ?? ""
        return TreeWatchError(description: """
            cannot watch \(path): this user's inotify watches are used up (fs.inotify.max_user_watches is \(limit)\(namespace); \
            this watcher holds \(watching)); raise it with `sysctl fs.inotify.max_user_watches=524288`, \
            ignore more of the tree, or poll it instead (poll: MS on the watch set)
            """)
    }
}

/// The first line of a small file (a /proc setting), nil if it cannot be read.
private func firstLine(of path: String) -> String? {
    let file = open(path, O_RDONLY | O_CLOEXEC)
    guard file >= 0 else { return nil }
    defer { close(file) }
    var bytes = [UInt8](repeating: 0, count: 64)
    let count = bytes.withUnsafeMutableBytes { read(file, $0.baseAddress, $0.count) }
    guard count > 0 else { return nil }
    return String(decoding: bytes[0..<count].prefix { $0 != 10 }, as: UTF8.self)
}

/// Watches directory trees on Linux with inotify, recursively: one watch
/// per directory, added as directories appear (what a new directory
/// already holds when its watch is added is reported as created, since
/// inotify would miss it), never for an ignored directory, dropped for a
/// tree moved or deleted away. An editor's atomic save (a temporary file
/// renamed over the file) is seen, since directories are watched, not
/// files. A kernel queue overflow is a `rescan`, not silence.
///
/// Written on inotify directly, not libuv's `uv_fs_event`: on Linux that
/// watches one directory without recursion, folds every event into
/// "change" or "rename" (no way to tell a new directory that needs a watch),
/// and drops `IN_Q_OVERFLOW` silently (GRAPHS.md §1.7).
///
/// Thread ownership: make, add to and close it on its loop's thread; the
/// callback runs there.
public final class TreeWatcher: LoopHandle, @unchecked Sendable {
    /// Events read per `read`.
    private static let bufferSize = 64 * 1024
    private static let mask = UInt32(IN_CREATE | IN_DELETE | IN_MODIFY | IN_CLOSE_WRITE | IN_ATTRIB | IN_MOVED_FROM | IN_MOVED_TO
        | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR | IN_EXCL_UNLINK)

    private let descriptor: Int32
    private let ignored: (String, Bool) -> Bool
    private var report: ((TreeWatchEvent) -> Void)?
    /// The directory each watch descriptor watches, and back.
    private var directories: [Int32: String] = [:]
    private var descriptors: [String: Int32] = [:]
    /// The trees asked for, looked at again after an overflow.
    private var roots: [String] = []
    private var buffer = [UInt8](repeating: 0, count: TreeWatcher.bufferSize)

    /// Directories watched.
    public var watchCount: Int { directories.count }

    /// A watcher on `loop` (its thread) reporting to `report`; `ignored`
    /// tells (absolute path, is a directory) whether a path is out of
    /// bounds: an ignored directory is never watched, an ignored path never reported.
    public init(loop: EventLoop, ignored: @escaping (String, Bool) -> Bool = { _, _ in false },
                report: @escaping (TreeWatchEvent) -> Void) throws(LoopError) {
        // invariant: libuv handles must be made on their loop's thread.
        precondition(loop.inEventLoop, "TreeWatcher made off its loop's thread")
        let descriptor = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        guard descriptor >= 0 else { throw LoopError(code: -errno, operation: "inotify_init1") }
        let poll = UnsafeMutablePointer<uv_poll_t>.allocate(capacity: 1)
        let code = uv_poll_init(loop.uvLoop, poll, descriptor)
        if code < 0 {
            poll.deallocate()
            Glibc.close(descriptor)
            throw LoopError(code: code, operation: "uv_poll_init")
        }
        self.descriptor = descriptor
        self.ignored = ignored
        self.report = report
        super.init(loop: loop, raw: UnsafeMutableRawPointer(poll).assumingMemoryBound(to: uv_handle_t.self))
        let started = uv_poll_start(poll, Int32(UV_READABLE.rawValue)) { handle, _, _ in
            guard let data = handle?.pointee.data else { return }
            (Unmanaged<LoopHandle>.fromOpaque(data).takeUnretainedValue() as? TreeWatcher)?.readEvents()
        }
        if started < 0 {
            close()
            throw LoopError(code: started, operation: "uv_poll_start")
        }
    }

    /// Watches the tree at `root` (a directory: made absolute, symbolic
    /// links not followed inside it). Throws when a watch cannot be added,
    /// naming `fs.inotify.max_user_watches` when that limit is reached.
    public func watch(_ root: String) throws(TreeWatchError) {
        let path = Self.absolute(root)
        var isDirectory = false
        guard Self.exists(path, isDirectory: &isDirectory), isDirectory else {
            throw TreeWatchError(description: "cannot watch \(path): no such directory")
        }
        roots.append(path)
        _ = try addTree(path, reportingContents: false)
    }

    /// Stops watching and closes the inotify descriptor.
    public override func close() {
        guard !isClosed else { return }
        report = nil
        Glibc.close(descriptor)
        directories.removeAll()
        descriptors.removeAll()
        super.close()
    }

    // MARK: Watches

    /// Adds a watch for `top` and every directory under it not ignored;
    /// returns what was found inside when `reportingContents` (a directory
    /// that just appeared: what it holds was made before its watch).
    private func addTree(_ top: String, reportingContents: Bool) throws(TreeWatchError) -> [TreeChange] {
        var found: [TreeChange] = []
        var pending = [top]
        while let directory = pending.popLast() {
            let wd = inotify_add_watch(descriptor, directory, Self.mask)
            if wd < 0 {
                let error = errno
                if error == ENOSPC { throw .tooManyWatches(directory, watching: directories.count) }
                // Gone or made unreadable before its watch: nothing to watch there.
                if error == ENOENT || error == ENOTDIR || error == EACCES { continue }
                throw TreeWatchError(description: "cannot watch \(directory): \(String(cString: strerror(error)))")
            }
            if let old = directories[wd], old != directory { descriptors[old] = nil }
            directories[wd] = directory
            descriptors[directory] = wd
            guard let stream = opendir(directory) else { continue }
            defer { closedir(stream) }
            while let entry = readdir(stream) {
                let name = DirectoryEntry.name(entry)
                if name == "." || name == ".." { continue }
                let path = directory + "/" + name
                var isDirectory = entry.pointee.d_type == DT_DIR
                if entry.pointee.d_type == DT_UNKNOWN { _ = Self.exists(path, isDirectory: &isDirectory) }
                if ignored(path, isDirectory) { continue }
                if reportingContents { found.append(TreeChange(path: path, kind: .created, isDirectory: isDirectory)) }
                if isDirectory, descriptors[path] == nil { pending.append(path) }
            }
        }
        return found
    }

    /// Drops the watches of `top` and the directories under it (moved or deleted away).
    private func dropTree(_ top: String) {
        let prefix = top + "/"
        for (path, wd) in descriptors where path == top || path.hasPrefix(prefix) {
            inotify_rm_watch(descriptor, wd)
            descriptors[path] = nil
            directories[wd] = nil
        }
    }

    // MARK: Events

    private func readEvents() {
        var changes: [TreeChange] = []
        var overflowed = false
        while !isClosed {
            let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            guard count > 0 else { break }
            buffer.withUnsafeBytes { bytes in
                var offset = 0
                let header = 16
                while offset + header <= count {
                    let wd = bytes.loadUnaligned(fromByteOffset: offset, as: Int32.self)
                    let mask = bytes.loadUnaligned(fromByteOffset: offset + 4, as: UInt32.self)
                    let length = Int(bytes.loadUnaligned(fromByteOffset: offset + 12, as: UInt32.self))
                    let nameBytes = UnsafeRawBufferPointer(rebasing: bytes[(offset + header)..<min(count, offset + header + length)])
                    let name = String(decoding: nameBytes.prefix { $0 != 0 }, as: UTF8.self)
                    offset += header + length
                    if mask & UInt32(IN_Q_OVERFLOW) != 0 {
                        overflowed = true
                        continue
                    }
                    handle(wd: wd, mask: mask, name: name, into: &changes)
                }
            }
        }
        guard let report else { return }
        if !changes.isEmpty { report(.changes(changes)) }
        if overflowed {
            // What changed meanwhile is unknown: the trees are looked at again, new directories watched.
            for root in roots { _ = try? addTree(root, reportingContents: false) }
            report(.rescan(reason: "the kernel's inotify queue overflowed (fs.inotify.max_queued_events): events were lost"))
        }
    }

    private func handle(wd: Int32, mask: UInt32, name: String, into changes: inout [TreeChange]) {
        guard let directory = directories[wd] else { return }
        if mask & UInt32(IN_IGNORED) != 0 {
            // The kernel dropped the watch (its directory is gone).
            directories[wd] = nil
            if descriptors[directory] == wd { descriptors[directory] = nil }
            return
        }
        guard !name.isEmpty else {
            // The watched directory itself went away: its parent reports that, if it is watched.
            if mask & UInt32(IN_DELETE_SELF | IN_MOVE_SELF) != 0 { dropTree(directory) }
            return
        }
        let path = directory + "/" + name
        let isDirectory = mask & UInt32(IN_ISDIR) != 0
        if ignored(path, isDirectory) { return }
        if mask & UInt32(IN_CREATE | IN_MOVED_TO) != 0 {
            changes.append(TreeChange(path: path, kind: mask & UInt32(IN_CREATE) != 0 ? .created : .movedTo, isDirectory: isDirectory))
            if isDirectory {
                do {
                    changes += try addTree(path, reportingContents: true)
                } catch {
                    report?(.rescan(reason: error.description))
                }
            }
        } else if mask & UInt32(IN_MOVED_FROM) != 0 {
            changes.append(TreeChange(path: path, kind: .movedFrom, isDirectory: isDirectory))
            if isDirectory { dropTree(path) }
        } else if mask & UInt32(IN_DELETE) != 0 {
            changes.append(TreeChange(path: path, kind: .removed, isDirectory: isDirectory))
        } else if mask & UInt32(IN_MODIFY | IN_CLOSE_WRITE | IN_ATTRIB) != 0 {
            let change = TreeChange(path: path, kind: .modified, isDirectory: isDirectory)
            // A write and its close are one change.
            if changes.last != change { changes.append(change) }
        }
    }

    // MARK: Paths

    private static func absolute(_ path: String) -> String {
        var trimmed = path
        while trimmed.count > 1, trimmed.hasSuffix("/") { trimmed.removeLast() }
        if trimmed.hasPrefix("/") { return trimmed }
        var cwd = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        guard getcwd(&cwd, cwd.count) != nil else { return trimmed }
        let here = String(decoding: cwd.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return trimmed == "." ? here : here + "/" + trimmed
    }

    private static func exists(_ path: String, isDirectory: inout Bool) -> Bool {
        var info = stat()
        guard lstat(path, &info) == 0 else { return false }
        isDirectory = info.st_mode & S_IFMT == S_IFDIR
        return true
    }
}
