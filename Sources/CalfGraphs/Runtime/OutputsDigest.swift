import Foundation
import Glibc

/// The digest of a job's `outputs` after it succeeded, for `cutoff: outputs`:
/// a file by its content, a directory by each file under it (its path,
/// size and modification time: a build tree is too big to read after each
/// build), a missing path as missing. Two runs that wrote the same bytes
/// to a file digest alike, so a no-op build does not restart what runs it.
enum OutputsDigest {
    /// The digest of `paths` (absolute), in their order.
    static func of(_ paths: [String]) -> String {
        var hash = StableHash()
        for path in paths {
            hash.add(path)
            var info = stat()
            guard stat(path, &info) == 0 else {
                hash.add("missing")
                continue
            }
            if (info.st_mode & S_IFMT) == S_IFDIR {
                hash.add("directory")
                addTree(path, to: &hash)
            } else {
                hash.add("file")
                addContent(path, to: &hash)
            }
        }
        return hash.hex
    }

    private static func addContent(_ path: String, to hash: inout StableHash) {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else {
            hash.add("unreadable")
            return
        }
        defer { close(descriptor) }
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            guard count > 0 else { break }
            hash.add(bytes: buffer[0..<count])
        }
    }

    private static func addTree(_ root: String, to hash: inout StableHash) {
        guard let walker = FileManager.default.enumerator(atPath: root) else { return }
        var entries: [String] = []
        while let relative = walker.nextObject() as? String { entries.append(relative) }
        for relative in entries.sorted() {
            var info = stat()
            guard lstat(root + "/" + relative, &info) == 0, (info.st_mode & S_IFMT) != S_IFDIR else { continue }
            hash.add(relative)
            hash.add("\(info.st_size) \(info.st_mtim.tv_sec).\(info.st_mtim.tv_nsec)")
        }
    }
}
