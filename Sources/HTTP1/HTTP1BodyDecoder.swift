import NIOCore

/// Reads one message body as its framing says: a length, chunks, or until the connection closes. Chunk
/// framing is checked strictly (hex size without sign or space, a line ending in CRLF, CRLF after the data)
/// and taken off: Mesher frames what it forwards itself, so chunk extensions never reach the next hop.
public struct HTTP1BodyDecoder {
    public enum Event {
        case data(ByteBuffer)
        /// The body is complete; `trailers` are the trailer fields as `name: value\r\n` lines, already checked,
        /// without the ones that must not be trailers (framing, routing, connection).
        case end(trailers: ByteBuffer?)
        case needMore
        case invalid(HTTP1ParseError)
    }

    private enum State {
        case length(remaining: Int)
        case chunkLine
        case chunkData(remaining: Int)
        case chunkDataEnd
        case trailers(scanned: Int)
        case untilClose
        case done
    }

    /// A chunk line (size and extensions) longer than this is refused.
    static let maxChunkLine = 4096
    /// At most 15 hex digits: no chunk size overflows.
    static let maxChunkSizeDigits = 15

    private var state: State
    private let limits: HTTP1HeadParser.Limits

    public init(framing: HTTP1Head.Framing, limits: HTTP1HeadParser.Limits) {
        self.limits = limits
        switch framing {
        case .none, .contentLength(0): state = .done
        case .contentLength(let length): state = .length(remaining: length)
        case .chunked: state = .chunkLine
        case .untilClose: state = .untilClose
        }
    }

    /// The next piece of the body from `buffer` (data is sliced off, not copied).
    public mutating func next(_ buffer: inout ByteBuffer) -> Event {
        while true {
            switch state {
            case .done:
                return .end(trailers: nil)
            case .length(let remaining):
                guard buffer.readableBytes > 0 else { return .needMore }
                let slice = buffer.readSlice(length: min(remaining, buffer.readableBytes))!
                state = remaining == slice.readableBytes ? .done : .length(remaining: remaining - slice.readableBytes)
                return .data(slice)
            case .untilClose:
                guard buffer.readableBytes > 0 else { return .needMore }
                return .data(buffer.readSlice(length: buffer.readableBytes)!)
            case .chunkLine:
                switch readChunkLine(&buffer) {
                case .failure(let error): return .invalid(error)
                case .success(nil): return .needMore
                case .success(0?): state = .trailers(scanned: 0)
                case .success(let size?): state = .chunkData(remaining: size)
                }
            case .chunkData(let remaining):
                guard buffer.readableBytes > 0 else { return .needMore }
                let slice = buffer.readSlice(length: min(remaining, buffer.readableBytes))!
                let left = remaining - slice.readableBytes
                state = left == 0 ? .chunkDataEnd : .chunkData(remaining: left)
                return .data(slice)
            case .chunkDataEnd:
                guard buffer.readableBytes >= 2 else { return .needMore }
                guard buffer.readInteger(as: UInt16.self) == 0x0D0A else { return .invalid(.invalidChunk) }
                state = .chunkLine
            case .trailers(var scanned):
                switch HTTP1Trailers.read(&buffer, scanned: &scanned, limits: limits) {
                case .failure(let error): return .invalid(error)
                case .success(nil):
                    state = .trailers(scanned: scanned)
                    return .needMore
                case .success(let trailers?):
                    state = .done
                    return .end(trailers: trailers.readableBytes > 0 ? trailers : nil)
                }
            }
        }
    }

    /// The connection ended: the end of an until-close body, a truncated body otherwise.
    public mutating func endOfInput() -> Event {
        switch state {
        case .untilClose, .done:
            state = .done
            return .end(trailers: nil)
        default:
            return .invalid(.invalidChunk)
        }
    }

    /// `1*HEXDIG [ chunk-ext ] CRLF`; the size, nil while the line is incomplete.
    private func readChunkLine(_ buffer: inout ByteBuffer) -> Result<Int?, HTTP1ParseError> {
        let scan: Result<(size: Int, length: Int)?, HTTP1ParseError> = buffer.withUnsafeReadableBytes { bytes in
            var size = 0
            var index = 0
            while index < bytes.count, let digit = HTTP1Syntax.hexValue(bytes[index]) {
                guard index < Self.maxChunkSizeDigits else { return .failure(.invalidChunk) }
                size = size << 4 | digit
                index += 1
            }
            if index == bytes.count {
                return bytes.count > Self.maxChunkSizeDigits ? .failure(.invalidChunk) : .success(nil)
            }
            guard index > 0 else { return .failure(.invalidChunk) }
            // Extensions: whitespace then ";", then visible characters up to the line end; all are dropped.
            var sawExtension = false
            while index < bytes.count {
                let byte = bytes[index]
                if byte == UInt8(ascii: "\r") {
                    guard index + 1 < bytes.count else { return .success(nil) }
                    guard bytes[index + 1] == UInt8(ascii: "\n") else { return .failure(.invalidChunk) }
                    return .success((size, index + 2))
                }
                if byte == UInt8(ascii: ";") {
                    sawExtension = true
                } else if !(sawExtension ? HTTP1Syntax.fieldValue[Int(byte)] : HTTP1Syntax.isWhitespace(byte)) {
                    return .failure(.invalidChunk)
                }
                index += 1
                if index > Self.maxChunkLine { return .failure(.invalidChunk) }
            }
            return .success(nil)
        }
        switch scan {
        case .failure(let error): return .failure(error)
        case .success(nil): return .success(nil)
        case .success(let line?):
            buffer.moveReaderIndex(forwardBy: line.length)
            return .success(line.size)
        }
    }
}
