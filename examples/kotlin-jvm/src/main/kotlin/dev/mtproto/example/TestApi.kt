// Hand serialization of the localdc test calls the examples use.
package dev.mtproto.example

/**
 * Hand serialization of the three localdc test calls used here
 * (localdc/test.tl): little-endian ids and ints, TL `bytes`.
 */
object TestApi {
    private fun le(v: Int) = byteArrayOf(v.toByte(), (v shr 8).toByte(), (v shr 16).toByte(), (v shr 24).toByte())

    private fun tlBytes(b: ByteArray): ByteArray {
        val head = if (b.size < 254) byteArrayOf(b.size.toByte()) else byteArrayOf(254.toByte()) + le(b.size).copyOf(3)
        val pad = (4 - (head.size + b.size) % 4) % 4
        return head + b + ByteArray(pad)
    }

    private fun int(b: ByteArray, at: Int) =
        (b[at].toInt() and 0xff) or ((b[at + 1].toInt() and 0xff) shl 8) or
            ((b[at + 2].toInt() and 0xff) shl 16) or ((b[at + 3].toInt() and 0xff) shl 24)

    private fun readBytes(b: ByteArray, at: Int): ByteArray {
        val first = b[at].toInt() and 0xff
        return if (first < 254) b.copyOfRange(at + 1, at + 1 + first)
        else b.copyOfRange(at + 4, at + 4 + (int(b, at) ushr 8))
    }

    fun echo(payload: ByteArray) = le(0x8f5c7b19.toInt()) + tlBytes(payload)
    fun pushUpdates(count: Int, size: Int) = le(0x0e841a3c) + le(count) + le(size)

    fun payload(reply: ByteArray): ByteArray {
        check(int(reply, 0) == 0xb750c89e.toInt()) { "not a test.payload" }
        return readBytes(reply, 4)
    }

    fun update(u: ByteArray): Pair<Int, ByteArray> {
        check(int(u, 0) == 0x953f0002.toInt()) { "not a test.update" }
        return int(u, 4) to readBytes(u, 8)
    }
}
