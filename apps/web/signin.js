// The sign-in screen of a server (OO_LOCAL_MODE=false): shown when the API answers 401, with one link
// per login provider the server offers. Each link is a navigation to the server, which sends the
// browser on to the provider and, once signed in, back to the page with its session cookie.

const $ = (id) => document.getElementById(id);

export async function showSignIn(oo) {
  let providers = [];
  try {
    providers = await oo.loginProviders();
  } catch {
    // No list: the screen says so below.
  }
  const links = providers.map((provider) => {
    const item = document.createElement("li");
    const link = document.createElement("a");
    link.className = "signin-link";
    link.href = provider.login_url;
    link.textContent = `Sign in with ${provider.display_name}`;
    item.append(link);
    return item;
  });
  $("signin-providers").replaceChildren(...links);
  $("signin-note").textContent = links.length ? "" : "This server offers no way to sign in right now.";
  $("face").hidden = true;
  $("open-settings").hidden = true;
  $("signin").hidden = false;
  links[0]?.querySelector("a").focus();
}
