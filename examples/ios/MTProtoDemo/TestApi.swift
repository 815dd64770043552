// Hand serialization of the localdc test calls the demo uses
// (localdc/test.tl): little-endian ids and ints, TL `bytes`.
import Foundation

enum TestApiError: Error { case unexpected(String) }

enum TestApi {
    static func le(_ v: UInt32) -> Data { withUnsafeBytes(of: v.littleEndian) { Data($0) } }

    static func tlBytes(_ b: Data) -> Data {
        var out = Data()
        if b.count < 254 {
            out.append(UInt8(b.count))
        } else {
            out.append(254)
            out.append(le(UInt32(b.count)).prefix(3))
        }
        out.append(b)
        while out.count % 4 != 0 { out.append(0) }
        return out
    }

    static func echo(_ payload: Data) -> Data { le(0x8f5c_7b19) + tlBytes(payload) }

    static func pushUpdates(count: Int32, size: Int32) -> Data {
        le(0x0e84_1a3c) + le(UInt32(bitPattern: count)) + le(UInt32(bitPattern: size))
    }

    /// `test.forgetSession`: answered, then the server forgets the session;
    /// the update stream then carries `gapMarker()`.
    static func forgetSession() -> Data { le(0x5434_8f76) }

    static func u32(_ d: Data, _ at: Int) -> UInt32 {
        let b = [UInt8](d[d.startIndex + at ..< d.startIndex + at + 4])
        return UInt32(b[0]) | UInt32(b[1]) << 8 | UInt32(b[2]) << 16 | UInt32(b[3]) << 24
    }

    static func readBytes(_ d: Data, _ at: Int) -> Data {
        let start = d.startIndex + at
        let first = Int(d[start])
        if first < 254 { return d.subdata(in: start + 1 ..< start + 1 + first) }
        let len = Int(u32(d, at) >> 8)
        return d.subdata(in: start + 4 ..< start + 4 + len)
    }

    static func payload(_ reply: Data) throws -> Data {
        guard reply.count >= 8, u32(reply, 0) == 0xb750_c89e else { throw TestApiError.unexpected("not a test.payload") }
        return readBytes(reply, 4)
    }

    static func update(_ u: Data) throws -> (Int32, Data) {
        guard u.count >= 12, u32(u, 0) == 0x953f_0002 else { throw TestApiError.unexpected("not a test.update") }
        return (Int32(bitPattern: u32(u, 4)), readBytes(u, 8))
    }
}
