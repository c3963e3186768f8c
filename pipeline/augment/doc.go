// Package augment holds the training-time augmentations of images: a [Pipeline] of [Step]s, each
// changing a [Batch] of raw images in place with the batch's random stream, so that a run is
// reproducible from its seed and resumes exactly. `distill train --augment <list>` parses the list
// with [Parse]: flip, crop:<pixels>, jitter:<pixels>, erase:<p>, mixup:<a>, cutmix:<a>, applied
// in the order given. The teacher of an online run sees the batch after every step, as the
// student does (consistent teaching, Beyer et al. 2022).
//
// Augmentations work in raw pixel space, before preprocessing: zero is black, and a mix of two
// images stays a mix after the affine preprocessing. A new augmentation is one file: a type with
// String, Check and Apply, and its entry in Parse's table.
package augment
