import NIOCore

/// Parses message heads strictly (RFC 9112): what it accepts, every conforming parser reads the same way,
/// so a request Mesher forwards cannot be read as another by the upstream. Everything else is an error:
/// obs-fold, bare CR or LF, whitespace before a colon, duplicate or malformed Content-Length, any
/// Transfer-Encoding but `chunked`, both framings at once, a missing or repeated Host.
public struct HTTP1HeadParser {
    public enum Role: Sendable { case request, response }

    public struct Limits: Sendable {
        /// The whole head: start line, fields and the blank line.
        public var maxHeadBytes: Int
        public var maxFields: Int

        public init(maxHeadBytes: Int, maxFields: Int) {
            self.maxHeadBytes = maxHeadBytes
            self.maxFields = maxFields
        }
    }

    public enum Outcome {
        case needMore
        case head(HTTP1Head)
        case invalid(HTTP1ParseError)
    }

    public let role: Role
    public let limits: Limits
    /// How far the current head has been searched for its end, so that a head arriving in pieces is not
    /// scanned again from its start on every read.
    private var scanned = 0

    public init(role: Role, limits: Limits) {
        self.role = role
        self.limits = limits
    }

    /// Takes one complete head from the front of `buffer`. Empty lines before a request line are skipped
    /// (RFC 9112 §2.2); nothing else is consumed unless a head is returned.
    public mutating func parse(_ buffer: inout ByteBuffer) -> Outcome {
        if role == .request && scanned == 0 { skipEmptyLines(&buffer) }
        let end = buffer.withUnsafeReadableBytes { findEnd($0) }
        switch end {
        case .failure(let error):
            return .invalid(error)
        case .success(nil):
            return buffer.readableBytes > limits.maxHeadBytes ? .invalid(.headTooLarge) : .needMore
        case .success(let length?):
            scanned = 0
            guard length <= limits.maxHeadBytes else { return .invalid(.headTooLarge) }
            let bytes = buffer.readSlice(length: length)!
            let parser = HeadFields(bytes: bytes, role: role, limits: limits)
            do {
                return .head(try parser.parse())
            } catch {
                return .invalid(error)
            }
        }
    }

    private func skipEmptyLines(_ buffer: inout ByteBuffer) {
        while buffer.readableBytes >= 2, buffer.getInteger(at: buffer.readerIndex, as: UInt16.self) == 0x0D0A {
            buffer.moveReaderIndex(forwardBy: 2)
        }
    }

    /// The length of the head (through its blank line), nil while incomplete. Line endings are checked on the
    /// way: an LF must follow every CR and nothing else may precede an LF.
    private mutating func findEnd(_ bytes: UnsafeRawBufferPointer) -> Result<Int?, HTTP1ParseError> {
        let cr = UInt8(ascii: "\r")
        let lf = UInt8(ascii: "\n")
        var index = scanned
        let limit = min(bytes.count, limits.maxHeadBytes + 1)
        while index < limit {
            let byte = bytes[index]
            if index > 0 && bytes[index - 1] == cr && byte != lf { return .failure(.bareLineEnding) }
            if byte == lf {
                guard index > 0 && bytes[index - 1] == cr else { return .failure(.bareLineEnding) }
                if index >= 3 && bytes[index - 2] == lf { return .success(index + 1) }
            }
            index += 1
        }
        // A CR last is checked again with the byte after it.
        scanned = index > 0 && bytes[index - 1] == cr ? index - 1 : index
        return .success(nil)
    }
}
