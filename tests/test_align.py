import numpy as np
import pytest

from edge.align import align_face, normalise, resize_whole, similarity_transform, template, to_colour


def test_similarity_transform_recovers_a_known_transform():
    rng = np.random.default_rng(1)
    src = rng.uniform(0, 100, size=(5, 2))
    angle, scale, shift = 0.3, 1.7, np.array([12.0, -4.0])
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    dst = scale * src @ rot.T + shift
    m = similarity_transform(src, dst)
    assert np.allclose(m[:, :2], scale * rot, atol=1e-9)
    assert np.allclose(m[:, 2], shift, atol=1e-9)


def test_align_face_puts_landmarks_on_the_template():
    img = np.zeros((200, 200), np.uint8)
    marks = template(112) * 1.3 + np.array([20.0, 15.0])
    for x, y in marks.astype(int):
        img[y - 1:y + 2, x - 1:x + 2] = 255
    crop = align_face(img, marks, 64)
    assert crop.shape == (64, 64)
    for x, y in template(64):
        assert crop[int(round(y)), int(round(x))] > 100


def test_resize_whole_and_colours():
    img = np.full((112, 92, 3), 50, np.uint8)
    out = resize_whole(img, 40)
    assert out.shape == (40, 40, 3)
    assert to_colour(out, "grey").shape == (40, 40)
    assert to_colour(to_colour(out, "grey"), "rgb").shape == (40, 40, 3)
    with pytest.raises(ValueError):
        to_colour(out, "cmyk")
    x = normalise(np.full((2, 4, 4), 255, np.uint8), 127.5, 128.0)
    assert x.shape == (2, 4, 4, 1) and np.allclose(x, 127.5 / 128)
