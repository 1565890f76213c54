//! `TRITONBACKEND_ModelInstance`: one instance of a model, owned by the core.
//!
//! Methods: `ModelInstanceName`, `ModelInstanceKind`, `ModelInstanceDeviceId`,
//! `ModelInstanceHostPolicy`, `ModelInstanceIsPassive`, `ModelInstanceProfileCount`,
//! `ModelInstanceProfileName`, `ModelInstanceSecondaryDeviceCount`,
//! `ModelInstanceSecondaryDeviceProperties`, `ModelInstanceModel`, `ModelInstanceState`,
//! `ModelInstanceSetState`.

use std::ffi::{c_char, c_void};

use crate::capi::backend::{TRITONBACKEND_Model, TRITONBACKEND_ModelInstance};
use crate::capi::boundary::ffi_try;
use crate::capi::handle::{c_ptr, Contract};
use crate::capi::server::error::TRITONSERVER_Error;
use crate::capi::server::message::TRITONSERVER_Message;
use crate::capi::types::TRITONSERVER_InstanceGroupKind;
use crate::engine::Error;

fn index_error(what: &str, index: u32, count: usize) -> Error {
    Error::invalid_arg(format!(
        "{what} index {index} is out of range: the instance has {count}"
    ))
}

/// The instance's name (`<group>_<n>`), valid as long as the instance.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONBACKEND_ModelInstanceName(
    instance: *mut TRITONBACKEND_ModelInstance,
    name: *mut *const c_char,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONBACKEND_ModelInstanceName's caller passes a live model instance and writable
    // `name`, as tritonbackend.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONBACKEND_ModelInstanceName", || {
        let i = c.arg_ref(instance, "instance")?;
        c.out_ptr(name, "name")?.write(c_ptr(i.name_c()));
        Ok(())
    })
}

/// The kind of device the instance runs on.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONBACKEND_ModelInstanceKind(
    instance: *mut TRITONBACKEND_ModelInstance,
    kind: *mut TRITONSERVER_InstanceGroupKind,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONBACKEND_ModelInstanceKind's caller passes a live model instance and writable
    // `kind`, as tritonbackend.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONBACKEND_ModelInstanceKind", || {
        let i = c.arg_ref(instance, "instance")?;
        c.out_ptr(kind, "kind")?
            .write(TRITONSERVER_InstanceGroupKind(i.kind() as u32));
        Ok(())
    })
}

/// The device id of the instance (0 for CPU instances).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONBACKEND_ModelInstanceDeviceId(
    instance: *mut TRITONBACKEND_ModelInstance,
    device_id: *mut i32,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONBACKEND_ModelInstanceDeviceId's caller passes a live model instance and
    // writable `device_id`, as tritonbackend.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONBACKEND_ModelInstanceDeviceId", || {
        let i = c.arg_ref(instance, "instance")?;
        c.out_ptr(device_id, "device_id")?.write(i.device_id());
        Ok(())
    })
}

/// The instance's host policy, `{"<policy name>": {<settings>}}`. The message belongs to the
/// instance: do not delete it.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONBACKEND_ModelInstanceHostPolicy(
    instance: *mut TRITONBACKEND_ModelInstance,
    host_policy: *mut *mut TRITONSERVER_Message,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONBACKEND_ModelInstanceHostPolicy's caller passes a live model instance and
    // writable `host_policy`, as tritonbackend.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONBACKEND_ModelInstanceHostPolicy", || {
        let i = c.arg_ref(instance, "instance")?;
        c.out_ptr(host_policy, "host_policy")?
            .write(std::ptr::from_ref(i.host_policy()).cast_mut());
        Ok(())
    })
}

/// Whether the instance is passive (loaded but not given requests by the scheduler).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONBACKEND_ModelInstanceIsPassive(
    instance: *mut TRITONBACKEND_ModelInstance,
    is_passive: *mut bool,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONBACKEND_ModelInstanceIsPassive's caller passes a live model instance and
    // writable `is_passive`, as tritonbackend.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONBACKEND_ModelInstanceIsPassive", || {
        let i = c.arg_ref(instance, "instance")?;
        c.out_ptr(is_passive, "is_passive")?.write(i.is_passive());
        Ok(())
    })
}

/// How many optimization profiles the instance's group names.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONBACKEND_ModelInstanceProfileCount(
    instance: *mut TRITONBACKEND_ModelInstance,
    count: *mut u32,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONBACKEND_ModelInstanceProfileCount's caller passes a live model instance and
    // writable `count`, as tritonbackend.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONBACKEND_ModelInstanceProfileCount", || {
        let i = c.arg_ref(instance, "instance")?;
        c.out_ptr(count, "count")?
            .write(u32::try_from(i.profiles().len()).unwrap_or(u32::MAX));
        Ok(())
    })
}

/// The name of one optimization profile.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONBACKEND_ModelInstanceProfileName(
    instance: *mut TRITONBACKEND_ModelInstance,
    index: u32,
    profile_name: *mut *const c_char,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONBACKEND_ModelInstanceProfileName's caller passes a live model instance and
    // writable `profile_name`, as tritonbackend.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONBACKEND_ModelInstanceProfileName", || {
        let i = c.arg_ref(instance, "instance")?;
        let out = c.out_ptr(profile_name, "profile_name")?;
        let p = i
            .profiles()
            .get(index as usize)
            .ok_or_else(|| index_error("profile", index, i.profiles().len()))?;
        out.write(c_ptr(p));
        Ok(())
    })
}

/// How many secondary devices the instance's group names.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONBACKEND_ModelInstanceSecondaryDeviceCount(
    instance: *mut TRITONBACKEND_ModelInstance,
    count: *mut u32,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONBACKEND_ModelInstanceSecondaryDeviceCount's caller passes a live model instance
    // and writable `count`, as tritonbackend.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONBACKEND_ModelInstanceSecondaryDeviceCount", || {
        let i = c.arg_ref(instance, "instance")?;
        let n = i.secondary_devices().len();
        c.out_ptr(count, "count")?
            .write(u32::try_from(n).unwrap_or(u32::MAX));
        Ok(())
    })
}

/// The kind name and id of one secondary device.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONBACKEND_ModelInstanceSecondaryDeviceProperties(
    instance: *mut TRITONBACKEND_ModelInstance,
    index: u32,
    kind: *mut *const c_char,
    id: *mut i64,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONBACKEND_ModelInstanceSecondaryDeviceProperties's caller passes a live model
    // instance and writable `kind` and `id`, as tritonbackend.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try(
        "TRITONBACKEND_ModelInstanceSecondaryDeviceProperties",
        || {
            let i = c.arg_ref(instance, "instance")?;
            let kind = c.out_ptr(kind, "kind")?;
            let id = c.out_ptr(id, "id")?;
            let devices = i.secondary_devices();
            let (k, d) = devices
                .get(index as usize)
                .ok_or_else(|| index_error("secondary device", index, devices.len()))?;
            kind.write(c_ptr(k));
            id.write(*d);
            Ok(())
        },
    )
}

/// The model the instance belongs to.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONBACKEND_ModelInstanceModel(
    instance: *mut TRITONBACKEND_ModelInstance,
    model: *mut *mut TRITONBACKEND_Model,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONBACKEND_ModelInstanceModel's caller passes a live model instance and writable
    // `model`, as tritonbackend.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONBACKEND_ModelInstanceModel", || {
        let i = c.arg_ref(instance, "instance")?;
        c.out_ptr(model, "model")?
            .write(i.model().as_ptr().cast_mut());
        Ok(())
    })
}

/// The opaque state the backend stored with `TRITONBACKEND_ModelInstanceSetState`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONBACKEND_ModelInstanceState(
    instance: *mut TRITONBACKEND_ModelInstance,
    state: *mut *mut c_void,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONBACKEND_ModelInstanceState's caller passes a live model instance and writable
    // `state`, as tritonbackend.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONBACKEND_ModelInstanceState", || {
        let i = c.arg_ref(instance, "instance")?;
        c.out_ptr(state, "state")?.write(i.state());
        Ok(())
    })
}

/// Store an opaque state with the instance.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn TRITONBACKEND_ModelInstanceSetState(
    instance: *mut TRITONBACKEND_ModelInstance,
    state: *mut c_void,
) -> *mut TRITONSERVER_Error {
    // SAFETY: TRITONBACKEND_ModelInstanceSetState's caller passes a live model instance, as
    // tritonbackend.h requires.
    let c = unsafe { Contract::assume() };
    ffi_try("TRITONBACKEND_ModelInstanceSetState", || {
        c.arg_ref(instance, "instance")?.set_state(state);
        Ok(())
    })
}
