"""``Usage.image_details`` (the level each image was fed at, and why) survives the store's round trip."""

from oculi.domain import ImageDetailUsage, Usage


def test_round_trip_keeps_image_details() -> None:
    usage = Usage(
        prompt_text_tokens=12,
        prompt_image_tokens=2048,
        completion_tokens=3,
        image_details=(
            ImageDetailUsage("high", "small text or fine detail", 1792),
            ImageDetailUsage("low", "one view keeps the detail", 256),
        ),
    )
    data = usage.to_dict()
    assert data["image_details"][1] == {"detail": "low", "reason": "one view keeps the detail", "image_tokens": 256}
    assert Usage.from_dict(data) == usage


def test_text_only_usage_has_no_image_details_key() -> None:
    usage = Usage(prompt_text_tokens=5, completion_tokens=1)
    assert "image_details" not in usage.to_dict()
    assert Usage.from_dict(usage.to_dict()) == usage
