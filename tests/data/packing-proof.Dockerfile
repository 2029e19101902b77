# The packing proof of tests/test_images.py: an application with compiled dependencies, built
# from source against the system libraries in the build stage (locks/packing-proof-X.Y.txt: the
# sdists, and the build dependencies they are built with, pinned with their hashes), then
# packed into the runtime image with only the packages find-libdeps lists. The original
# pipeline's answer is kept beside it for comparison. Target packed-min packs the same venv onto
# the -min image of that Python (MIN), the way the README shows a user.
ARG BUILD=build
ARG RUNTIME=runtime
ARG MIN=min
FROM ${BUILD} AS build
ARG PYTHON
ARG PIP_INDEX_URL
ARG PIP_EXTRA_INDEX_URL
ARG PIP_TRUSTED_HOST
COPY tests/data/import-all.py /usr/share/python3/import-all.py
COPY scripts/install_locked.py /tmp/install_locked.py
COPY locks/packing-proof-*.txt /tmp/locks/
# seed-pkgdeps.txt comes from the original pipeline, kept as it was for the comparison
# hadolint ignore=DL4006,SC2038
RUN --mount=type=secret,id=pip-cert \
    if [ -s /run/secrets/pip-cert ]; then export PIP_CERT=/run/secrets/pip-cert; fi \
 && python${PYTHON} -m venv /usr/share/python3/app \
 && python${PYTHON} /tmp/install_locked.py --python /usr/share/python3/app/bin/python --locks /tmp/locks packing-proof \
 && mv /usr/share/python3/import-all.py /usr/share/python3/app/ \
 && find-libdeps /usr/share/python3/app > /usr/share/python3/app/pkgdeps.txt \
 && { find /usr/share/python3/app -iname '*.so' | xargs ldd 2>/dev/null | grep '=>' | awk '{print $1}' \
      | sort -u | xargs dpkg-query -S 2>/dev/null | cut -d':' -f 1 | sort -u \
      > /usr/share/python3/app/seed-pkgdeps.txt || true; } \
 && python${PYTHON} -m compileall -q --invalidation-mode unchecked-hash /usr/share/python3/app

# The user's flow onto a -min image: a builder stage copies the -min image's root into /target,
# installs there with apt-install --root what find-libdeps listed (no script runs, no shell is
# needed in /target), and the venv, without what nothing there loads: the installer, and the
# debug information of the modules built from source; the target is that root alone.
FROM ${MIN} AS min

FROM build AS assemble-min
ARG APT_BUILD_CONF=
COPY --from=min / /target
RUN if [ -n "$APT_BUILD_CONF" ]; then echo "$APT_BUILD_CONF" > /etc/apt/apt.conf.d/00build; fi \
 && apt-install --root /target -r /usr/share/python3/app/pkgdeps.txt \
 && cp -a /usr/share/python3/app /target/usr/share/python3/app \
 && /target/usr/share/python3/app/bin/python -m pip uninstall -qy pip \
 && find /target/usr/share/python3/app -name '*.so' -exec strip --strip-debug {} + \
 && find-libdeps --check --root /target /usr/share/python3/app \
 && rm -f /etc/apt/apt.conf.d/00build

FROM scratch AS packed-min
LABEL org.opencontainers.image.title="snakepack/python:packing-proof-min"
COPY --from=assemble-min /target /
ENV LANG=C.UTF-8 LC_ALL=C.UTF-8
USER 10001:10001
WORKDIR /home/app
CMD ["/usr/share/python3/app/bin/python", "/usr/share/python3/app/import-all.py"]

FROM ${RUNTIME}
ARG APT_BUILD_CONF=
LABEL org.opencontainers.image.title="snakepack/python:packing-proof"
COPY --from=build /usr/share/python3/app /usr/share/python3/app
RUN if [ -n "$APT_BUILD_CONF" ]; then echo "$APT_BUILD_CONF" > /etc/apt/apt.conf.d/00build; fi \
 && apt-install -r /usr/share/python3/app/pkgdeps.txt \
 && find-libdeps --check /usr/share/python3/app \
 && rm -f /etc/apt/apt.conf.d/00build
