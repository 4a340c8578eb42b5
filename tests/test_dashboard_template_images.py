"""The template images page: uploading, removing, serving, and the passes after."""

import base64
import hashlib
import html
import io
import json

import pytest
from PIL import Image
from sqlalchemy import func, select

from app import jobs
from app.extensions import db
from app.merchants import create_merchant
from app.models import AuditEntry, SignedBundle, TemplateImage, TemplateUpdate
from app.passes import service
from tests.bundle_check import verify_bundle
from tests.conftest import csrf_token

DEVICE = "f0e1d2c3b4a5968778695a4b3c2d1e0f"
PUSH_TOKEN = "cd" * 32


def _picture(size, color=(30, 144, 255, 255)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGBA", size, color).save(buffer, "PNG")
    return buffer.getvalue()


def _paths(template) -> dict[str, bytes]:
    db.session.expire_all()
    return {image.path: image.content for image in template.images}


def _upload(client, template, role, content, filename="picture.png", token=None):
    page = f"/dashboard/templates/{template.id}/images"
    data = {f"{role}-image": (io.BytesIO(content), filename)}
    data["csrf_token"] = token if token is not None else csrf_token(client, page)
    return client.post(f"{page}/{role}", data=data, content_type="multipart/form-data")


def _register(client, pass_):
    response = client.post(
        f"/passkit/v1/devices/{DEVICE}/registrations/"
        f"{pass_.pass_type.pass_type_identifier}/{pass_.serial_number}",
        json={"pushToken": PUSH_TOKEN},
        headers={"Authorization": f"ApplePass {pass_.authentication_token}"},
    )
    assert response.status_code == 201


def _updates(template) -> int:
    return db.session.scalar(
        select(func.count(TemplateUpdate.id)).filter_by(template_id=template.id)
    )


def test_the_page_offers_the_styles_images(client, auth, template):
    auth.login()

    response = client.get(f"/dashboard/templates/{template.id}/images")

    assert response.status_code == 200
    text = html.unescape(response.get_data(as_text=True))
    # The demo template is an event ticket with an icon and a logo.
    for role in ("icon", "logo", "strip", "thumbnail", "background"):
        assert f'id="image-{role}"' in text
        assert f'name="{role}-image"' in text
    assert 'id="image-footer"' not in text
    assert "upload at least 87x87 pixels" in text
    assert "375x98 points: upload at least 1125x294 pixels" in text
    files = f"/dashboard/templates/{template.id}/images/files/"
    assert f'src="{files}icon@3x.png"' in text
    assert f'href="{files}logo@2x.png"' in text
    assert "No strip image." in text
    # The icon cannot be removed; the logo can.
    assert f"/dashboard/templates/{template.id}/images/logo/remove" in text
    assert f"/dashboard/templates/{template.id}/images/icon/remove" not in text
    detail = client.get(f"/dashboard/templates/{template.id}").get_data(as_text=True)
    assert f'href="/dashboard/templates/{template.id}/images"' in detail


def test_uploading_a_logo_resigns_and_pushes_the_passes(
    client, auth, issued_pass, apns, chain_files, tmp_path
):
    template = issued_pass.template
    _register(client, issued_pass)
    before = issued_pass.update_tag
    auth.login()

    response = _upload(client, template, "logo", _picture((960, 300)), "logo.webp")

    page = f"/dashboard/templates/{template.id}/images"
    assert (response.status_code, response.headers["Location"]) == (302, page)
    stored = _paths(template)
    sizes = {
        path: Image.open(io.BytesIO(content)).size
        for path, content in stored.items()
        if path.startswith("logo")
    }
    assert sizes == {
        "logo.png": (160, 50),
        "logo@2x.png": (320, 100),
        "logo@3x.png": (480, 150),
    }
    assert issued_pass.update_tag > before
    template_update = db.session.scalars(select(TemplateUpdate)).one()
    assert template_update.update_tag == issued_pass.update_tag
    entry = db.session.scalars(
        select(AuditEntry).filter_by(action="template.updated")
    ).one()
    assert (entry.subject, entry.actor.startswith("user:")) == ("Concert", True)
    jobs.join()
    assert [r.token for r in apns.wait_for(1)] == [PUSH_TOKEN]
    # The rollout signed the new content; its manifest lists the new files.
    signed = db.session.get(SignedBundle, issued_pass.id)
    assert signed.update_tag == issued_pass.update_tag
    files = verify_bundle(signed.content, chain_files / "root.pem", tmp_path)
    manifest = json.loads(files["manifest.json"])
    for path in ("logo.png", "logo@2x.png", "logo@3x.png"):
        assert files[path] == stored[path]
        assert manifest[path] == hashlib.sha1(stored[path]).hexdigest()  # noqa: S324
    text = html.unescape(client.get(page).get_data(as_text=True))
    assert "Logo saved. 1 passes with devices are being re-signed and pushed" in text
    # The template page's preview draws the new logo (from its @2x file).
    detail = client.get(f"/dashboard/templates/{template.id}").get_data(as_text=True)
    assert base64.b64encode(stored["logo@2x.png"]).decode() in detail


def test_a_new_pass_of_the_template_carries_the_uploaded_strip(
    client, auth, template, chain_files, tmp_path
):
    auth.login()

    response = _upload(client, template, "strip", _picture((2250, 588)))

    assert response.status_code == 302
    pass_ = service.issue_pass(template, {"holder": "Bo", "seat": "B2", "gate": "1"})
    files = verify_bundle(
        service.signed_bundle(pass_), chain_files / "root.pem", tmp_path
    )
    manifest = json.loads(files["manifest.json"])
    assert {"strip.png", "strip@2x.png", "strip@3x.png"} <= set(manifest)
    assert Image.open(io.BytesIO(files["strip@3x.png"])).size == (1125, 294)
    assert Image.open(io.BytesIO(files["strip.png"])).size == (375, 98)


@pytest.mark.parametrize(
    ("role", "content", "message"),
    [
        (
            "logo",
            b"just some text, saved as logo.png",
            "That file is not an image Passline can read",
        ),
        (
            "icon",
            _picture((300, 300))[:300],
            "That image file is damaged or incomplete",
        ),
        (
            "icon",
            _picture((60, 60)),
            "An icon needs at least 87x87 pixels (29x29 points at @3x); this "
            "image is 60x60 pixels.",
        ),
        ("logo", b"", "That file is empty."),
    ],
    ids=["text-file", "truncated", "too-small", "empty"],
)
def test_a_bad_upload_is_named_next_to_its_input(
    client, auth, issued_pass, apns, role, content, message
):
    template = issued_pass.template
    before, tag = _paths(template), issued_pass.update_tag
    auth.login()

    response = _upload(client, template, role, content)

    assert response.status_code == 200
    text = html.unescape(response.get_data(as_text=True))
    assert f'<span class="error" id="{role}-image-error">{message}' in text
    assert f'aria-describedby="{role}-image-error"' in text
    assert _paths(template) == before
    assert (issued_pass.update_tag, _updates(template)) == (tag, 0)
    jobs.join()
    assert apns.requests == []


def test_no_file_chosen_is_named_next_to_the_input(client, auth, template):
    auth.login()
    page = f"/dashboard/templates/{template.id}/images"

    response = client.post(
        f"{page}/logo",
        data={"csrf_token": csrf_token(client, page)},
        content_type="multipart/form-data",
    )

    text = response.get_data(as_text=True)
    assert (response.status_code, "Choose an image file to upload." in text) == (
        200,
        True,
    )


def test_a_role_the_style_does_not_show_is_refused(client, auth, template):
    before = _paths(template)
    auth.login()

    response = _upload(client, template, "footer", _picture((858, 45)))

    assert response.status_code == 400
    text = html.unescape(response.get_data(as_text=True))
    assert "An eventTicket pass cannot show a footer image" in text
    assert _paths(template) == before
    assert _updates(template) == 0
    unknown = _upload(client, template, "banner", _picture((300, 300)))
    assert unknown.status_code == 404


def test_a_strip_beside_a_background_is_refused_as_wallet_would(client, auth, template):
    auth.login()
    background = _upload(client, template, "background", _picture((540, 660)))
    assert background.status_code == 302
    before = _paths(template)
    assert "background@3x.png" in before

    response = _upload(client, template, "strip", _picture((1125, 294)))

    assert response.status_code == 200
    text = response.get_data(as_text=True)
    assert "an eventTicket shows a strip or a background and thumbnail" in text
    assert _paths(template) == before
    assert _updates(template) == 1


def test_removing_an_image_pushes_and_the_icon_stays(client, auth, issued_pass):
    template = issued_pass.template
    tag = issued_pass.update_tag
    auth.login()
    page = f"/dashboard/templates/{template.id}/images"

    response = client.post(
        f"{page}/logo/remove", data={"csrf_token": csrf_token(client, page)}
    )

    assert (response.status_code, response.headers["Location"]) == (302, page)
    assert not [path for path in _paths(template) if path.startswith("logo")]
    assert issued_pass.update_tag > tag
    assert _updates(template) == 1
    files = service.render_files(issued_pass)
    assert "logo.png" not in files and "icon.png" in files

    refused = client.post(
        f"{page}/icon/remove", data={"csrf_token": csrf_token(client, page)}
    )
    assert refused.status_code == 400
    assert "Every pass needs an icon" in refused.get_data(as_text=True)
    assert {"icon.png", "icon@2x.png", "icon@3x.png"} <= set(_paths(template))
    again = client.post(
        f"{page}/logo/remove", data={"csrf_token": csrf_token(client, page)}
    )
    assert again.status_code == 400
    assert "The template has no logo image to remove." in again.get_data(as_text=True)
    assert _updates(template) == 1


def test_forms_need_the_csrf_token(client, auth, template):
    before = _paths(template)
    auth.login()
    page = f"/dashboard/templates/{template.id}/images"

    upload = _upload(client, template, "logo", _picture((480, 150)), token="")
    remove = client.post(f"{page}/logo/remove")

    assert (upload.status_code, remove.status_code) == (400, 400)
    assert _paths(template) == before
    assert _updates(template) == 0


def test_files_are_served_to_their_owner_as_png(client, auth, template):
    auth.login()
    stored = _paths(template)
    path = f"/dashboard/templates/{template.id}/images/files/icon@2x.png"

    response = client.get(path)

    assert response.status_code == 200
    assert response.mimetype == "image/png"
    assert response.data == stored["icon@2x.png"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "private" in response.headers["Cache-Control"]
    again = client.get(path, headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304
    missing = client.get(f"/dashboard/templates/{template.id}/images/files/a.png")
    assert missing.status_code == 404


def test_another_merchant_cannot_change_or_see_the_images(client, auth, template):
    before = _paths(template)
    create_merchant("Rival", "rival@other.test", "rival password")
    auth.login("rival@other.test", "rival password")
    page = f"/dashboard/templates/{template.id}/images"
    token = csrf_token(client, "/dashboard/")

    upload = _upload(client, template, "logo", _picture((480, 150)), token=token)
    remove = client.post(f"{page}/logo/remove", data={"csrf_token": token})
    served = client.get(f"{page}/files/icon.png")

    assert (upload.status_code, remove.status_code, served.status_code) == (
        404,
        404,
        404,
    )
    assert _paths(template) == before
    assert db.session.scalar(select(func.count(TemplateImage.id))) == len(before)
