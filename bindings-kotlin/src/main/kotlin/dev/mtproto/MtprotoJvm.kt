// Hand-written (not generated): JVM and Android specifics that UniFFI's
// generated code leaves to the application. scripts/gen-uniffi.sh never
// touches this file.
package dev.mtproto

import com.sun.jna.Callback
import com.sun.jna.CallbackThreadInitializer
import com.sun.jna.Native

/**
 * Process-wide settings of the Kotlin bindings on the JVM.
 */
object MtprotoJvm {
    private var attached = false

    /**
     * Keeps the native threads that call into Kotlin attached to the JVM.
     *
     * Listener calls come from the runtime's one dispatcher thread, and the
     * wake-ups of suspended `invoke` calls from the runtime's network
     * thread. By default JNA attaches such a native thread to the JVM
     * before every callback and detaches it after, which costs tens of
     * microseconds per call (and makes every batch arrive on a new
     * `java.lang.Thread`). With this set, each of these threads is attached
     * once, as a daemon thread named after its role, and stays attached
     * until it exits.
     *
     * Call it once, before anything else of the library (before the first
     * `Runtime()`): JNA reads a callback's thread policy only when it first
     * wraps that callback, which happens when the library is loaded and at
     * the first suspended call. Calling it again does nothing.
     */
    @Synchronized
    fun keepCallbackThreadsAttached() {
        if (attached) return
        fun keep(name: String, vararg callbacks: Callback) {
            val init = CallbackThreadInitializer(true, false, name)
            for (cb in callbacks) Native.setCallbackThreadInitializer(cb, init)
        }
        keep(
            "mtproto-dispatch",
            uniffiCallbackInterfaceUpdateListener.`onUpdates`,
            uniffiCallbackInterfaceUpdateListener.uniffiFree,
            uniffiCallbackInterfaceUpdateListener.uniffiClone,
            uniffiCallbackInterfaceStateListener.`onState`,
            uniffiCallbackInterfaceStateListener.uniffiFree,
            uniffiCallbackInterfaceStateListener.uniffiClone,
            uniffiCallbackInterfaceInvokeCallback.`onSuccess`,
            uniffiCallbackInterfaceInvokeCallback.`onFailure`,
            uniffiCallbackInterfaceInvokeCallback.uniffiFree,
            uniffiCallbackInterfaceInvokeCallback.uniffiClone,
        )
        // Resumes suspended coroutines; runs on whichever thread completes
        // the request (in practice the network thread).
        keep("mtproto-wake", uniffiRustFutureContinuationCallbackImpl)
        attached = true
    }
}
