//! A new user namespace without uid/gid mappings: refused before anything is made,
//! as runc does ("user namespaces enabled, but no uid mappings found").

use serde_json::json;

use crate::common::*;

#[test]
fn user_namespace_without_mappings_is_refused_up_front() {
    let mut b = Bundle::new("userns-nomap");
    b.set_namespace("user", None);
    b.set_args(&["true"]);
    b.write_config();
    let id = b.new_id();
    b.create(&id)
        .fails_with(&["linux.uidMappings", "at least one mapping"]);
    b.assert_nothing_left(&id);
    // uid mappings alone are not enough.
    b.config["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 10}]);
    b.write_config();
    let id = b.new_id();
    b.create(&id).fails_with(&["linux.gidMappings"]);
    b.assert_nothing_left(&id);
}
