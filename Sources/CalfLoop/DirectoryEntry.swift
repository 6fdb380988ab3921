import Glibc

/// Reading `readdir`'s entries safely.
public enum DirectoryEntry {
    /// The name of `entry`, read in place. (`entry.pointee` copies a whole
    /// `dirent`, but readdir's entries are only as long as their names: one
    /// at the end of a mapped page made that copy a crash.)
    public static func name(_ entry: UnsafeMutablePointer<dirent>) -> String {
        // invariant: d_name is a stored field of dirent, so it has an offset.
        let offset = MemoryLayout<dirent>.offset(of: \dirent.d_name)!
        return String(cString: (UnsafeRawPointer(entry) + offset).assumingMemoryBound(to: CChar.self))
    }
}
